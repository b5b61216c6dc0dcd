#include "report/h5.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "core/check.h"

namespace ls {

namespace {

// Closes an HDF5 handle with the matching function when it leaves scope.
struct Handle {
    hid_t id;
    herr_t (*close)(hid_t);
    ~Handle() {
        if (id >= 0) close(id);
    }
};

hid_t checked(hid_t id, const std::string& what, const std::string& path) {
    ENSURE(id >= 0, path, ": HDF5 failed to ", what);
    return id;
}

hid_t string_type(size_t len) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, std::max<size_t>(len, 1));
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    return t;
}

template <class T>
void write_numbers(hid_t file, const std::string& path, const std::string& name, const std::vector<T>& v,
                   hid_t type) {
    hsize_t dims[1] = {v.size()};
    Handle space{checked(H5Screate_simple(1, dims, nullptr), "create a dataspace", path), H5Sclose};
    Handle ds{checked(H5Dcreate2(file, name.c_str(), type, space.id, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                      "create dataset " + name, path),
              H5Dclose};
    if (!v.empty())
        ENSURE(H5Dwrite(ds.id, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) >= 0, path, ": HDF5 failed to write ",
               name);
}

template <class T>
std::vector<T> read_numbers(hid_t file, const std::string& path, const std::string& name, hid_t type) {
    Handle ds{checked(H5Dopen2(file, name.c_str(), H5P_DEFAULT), "open dataset " + name, path), H5Dclose};
    Handle space{H5Dget_space(ds.id), H5Sclose};
    const hssize_t n = H5Sget_simple_extent_npoints(space.id);
    std::vector<T> v(size_t(std::max<hssize_t>(n, 0)));
    if (!v.empty())
        ENSURE(H5Dread(ds.id, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) >= 0, path, ": HDF5 failed to read ",
               name);
    return v;
}

}  // namespace

H5File H5File::create(const std::string& path) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // our messages, not HDF5's error stack dump
    return H5File(checked(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "create the file", path),
                  path);
}

H5File H5File::open(const std::string& path) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // our messages, not HDF5's error stack dump
    std::error_code ec;
    ENSURE(std::filesystem::exists(path, ec), path, ": no such file");
    ENSURE(!std::filesystem::is_directory(path, ec), path, ": is a folder, not a report file");
    return H5File(checked(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open it as an HDF5 file", path),
                  path);
}

H5File::~H5File() {
    if (id_ >= 0) H5Fclose(id_);
}

void H5File::group(const std::string& name) {
    Handle g{checked(H5Gcreate2(id_, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create group " + name,
                     path_),
             H5Gclose};
}

void H5File::attr(const std::string& name, const std::string& value) {
    Handle type{string_type(value.size() + 1), H5Tclose};
    Handle space{H5Screate(H5S_SCALAR), H5Sclose};
    Handle a{checked(H5Acreate2(id_, name.c_str(), type.id, space.id, H5P_DEFAULT, H5P_DEFAULT),
                     "create attribute " + name, path_),
             H5Aclose};
    ENSURE(H5Awrite(a.id, type.id, value.c_str()) >= 0, path_, ": HDF5 failed to write attribute ", name);
}

void H5File::attr(const std::string& name, int64_t value) {
    Handle space{H5Screate(H5S_SCALAR), H5Sclose};
    Handle a{checked(H5Acreate2(id_, name.c_str(), H5T_NATIVE_INT64, space.id, H5P_DEFAULT, H5P_DEFAULT),
                     "create attribute " + name, path_),
             H5Aclose};
    ENSURE(H5Awrite(a.id, H5T_NATIVE_INT64, &value) >= 0, path_, ": HDF5 failed to write attribute ", name);
}

void H5File::attr(const std::string& name, double value) {
    Handle space{H5Screate(H5S_SCALAR), H5Sclose};
    Handle a{checked(H5Acreate2(id_, name.c_str(), H5T_NATIVE_DOUBLE, space.id, H5P_DEFAULT, H5P_DEFAULT),
                     "create attribute " + name, path_),
             H5Aclose};
    ENSURE(H5Awrite(a.id, H5T_NATIVE_DOUBLE, &value) >= 0, path_, ": HDF5 failed to write attribute ", name);
}

void H5File::write(const std::string& name, const std::vector<int64_t>& v) {
    write_numbers(id_, path_, name, v, H5T_NATIVE_INT64);
}

void H5File::write(const std::string& name, const std::vector<double>& v) {
    write_numbers(id_, path_, name, v, H5T_NATIVE_DOUBLE);
}

void H5File::write(const std::string& name, const std::vector<std::string>& v) {
    size_t len = 1;
    for (const auto& s : v) len = std::max(len, s.size() + 1);
    std::vector<char> buf(len * v.size(), '\0');
    for (size_t i = 0; i < v.size(); i++) std::copy(v[i].begin(), v[i].end(), buf.begin() + long(i * len));
    Handle type{string_type(len), H5Tclose};
    hsize_t dims[1] = {v.size()};
    Handle space{H5Screate_simple(1, dims, nullptr), H5Sclose};
    Handle ds{checked(H5Dcreate2(id_, name.c_str(), type.id, space.id, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                      "create dataset " + name, path_),
              H5Dclose};
    if (!v.empty())
        ENSURE(H5Dwrite(ds.id, type.id, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) >= 0, path_,
               ": HDF5 failed to write ", name);
}

bool H5File::has(const std::string& object) const {
    // Checks each level, as H5Lexists requires the parent groups to exist.
    for (size_t at = object.find('/', 1);; at = object.find('/', at + 1)) {
        const std::string prefix = object.substr(0, at);
        if (H5Lexists(id_, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
        if (at == std::string::npos) return true;
    }
}

std::vector<std::string> H5File::members(const std::string& group) const {
    std::vector<std::string> names;
    auto add = [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
        static_cast<std::vector<std::string>*>(out)->push_back(name);
        return 0;
    };
    checked(H5Literate_by_name(id_, group.c_str(), H5_INDEX_NAME, H5_ITER_INC, nullptr, add, &names, H5P_DEFAULT),
            "list group " + group, path_);
    return names;
}

bool H5File::has_attr(const std::string& name) const { return H5Aexists(id_, name.c_str()) > 0; }

std::string H5File::attr_string(const std::string& name) const {
    Handle a{checked(H5Aopen(id_, name.c_str(), H5P_DEFAULT), "open attribute " + name, path_), H5Aclose};
    Handle type{H5Aget_type(a.id), H5Tclose};
    ENSURE(H5Tget_class(type.id) == H5T_STRING, path_, ": attribute ", name, " is not a string");
    std::string s(H5Tget_size(type.id), '\0');
    Handle mem{string_type(s.size()), H5Tclose};
    ENSURE(H5Aread(a.id, mem.id, s.data()) >= 0, path_, ": HDF5 failed to read attribute ", name);
    s.resize(s.find('\0') == std::string::npos ? s.size() : s.find('\0'));
    return s;
}

int64_t H5File::attr_int(const std::string& name) const {
    Handle a{checked(H5Aopen(id_, name.c_str(), H5P_DEFAULT), "open attribute " + name, path_), H5Aclose};
    int64_t v = 0;
    ENSURE(H5Aread(a.id, H5T_NATIVE_INT64, &v) >= 0, path_, ": HDF5 failed to read attribute ", name);
    return v;
}

double H5File::attr_double(const std::string& name) const {
    Handle a{checked(H5Aopen(id_, name.c_str(), H5P_DEFAULT), "open attribute " + name, path_), H5Aclose};
    double v = 0;
    ENSURE(H5Aread(a.id, H5T_NATIVE_DOUBLE, &v) >= 0, path_, ": HDF5 failed to read attribute ", name);
    return v;
}

std::vector<int64_t> H5File::read_ints(const std::string& name) const {
    return read_numbers<int64_t>(id_, path_, name, H5T_NATIVE_INT64);
}

std::vector<double> H5File::read_doubles(const std::string& name) const {
    return read_numbers<double>(id_, path_, name, H5T_NATIVE_DOUBLE);
}

std::vector<std::string> H5File::read_strings(const std::string& name) const {
    Handle ds{checked(H5Dopen2(id_, name.c_str(), H5P_DEFAULT), "open dataset " + name, path_), H5Dclose};
    Handle type{H5Dget_type(ds.id), H5Tclose};
    ENSURE(H5Tget_class(type.id) == H5T_STRING, path_, ": dataset ", name, " is not strings");
    const size_t len = H5Tget_size(type.id);
    Handle space{H5Dget_space(ds.id), H5Sclose};
    const size_t n = size_t(std::max<hssize_t>(H5Sget_simple_extent_npoints(space.id), 0));
    std::vector<char> buf(len * n);
    Handle mem{string_type(len), H5Tclose};
    if (n) ENSURE(H5Dread(ds.id, mem.id, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) >= 0, path_, ": HDF5 failed to read ", name);
    std::vector<std::string> out;
    for (size_t i = 0; i < n; i++) out.emplace_back(buf.data() + i * len, strnlen(buf.data() + i * len, len));
    return out;
}

}  // namespace ls
