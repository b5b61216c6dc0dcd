// A thin RAII layer over serial HDF5's C API: the report is columnar (one 1-D dataset per field), so this is
// all it needs. Every HDF5 call is checked; a failure throws ls::Error naming the file and the object.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ls {

class H5File {
public:
    static H5File create(const std::string& path);  // truncates
    static H5File open(const std::string& path);    // read-only
    H5File(H5File&& o) noexcept : id_(o.id_), path_(std::move(o.path_)) { o.id_ = -1; }
    H5File(const H5File&) = delete;
    ~H5File();
    const std::string& path() const { return path_; }

    void group(const std::string& name);  // creates it
    void attr(const std::string& name, const std::string& value);
    void attr(const std::string& name, int64_t value);
    void attr(const std::string& name, double value);
    void write(const std::string& dataset, const std::vector<int64_t>& v);
    void write(const std::string& dataset, const std::vector<double>& v);
    void write(const std::string& dataset, const std::vector<std::string>& v);  // fixed-length strings

    bool has(const std::string& object) const;
    std::vector<std::string> members(const std::string& group) const;  // its links' names, in name order
    bool has_attr(const std::string& name) const;
    std::string attr_string(const std::string& name) const;
    int64_t attr_int(const std::string& name) const;
    double attr_double(const std::string& name) const;
    std::vector<int64_t> read_ints(const std::string& dataset) const;
    std::vector<double> read_doubles(const std::string& dataset) const;
    std::vector<std::string> read_strings(const std::string& dataset) const;

private:
    H5File(hid_t id, std::string path) : id_(id), path_(std::move(path)) {}
    hid_t id_;
    std::string path_;
};

}  // namespace ls
