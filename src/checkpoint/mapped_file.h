// A read-only file mapped into memory (mmap), so that tensor bytes are paged in only when copied and a 10 GB
// shard costs address space, not RAM. Move-only; unmaps on destruction.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ls {

class MappedFile {
public:
    // Throws ls::Error naming `path` when it cannot be opened, stat'ed or mapped.
    explicit MappedFile(const std::string& path);
    MappedFile(MappedFile&& o) noexcept;
    MappedFile& operator=(MappedFile&& o) noexcept;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile();

    const std::string& path() const { return path_; }
    const uint8_t* data() const { return data_; }  // nullptr for an empty file
    uint64_t size() const { return size_; }

private:
    void release();
    std::string path_;
    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
};

}  // namespace ls
