#include "harness/npy.h"

#include <fstream>
#include <stdexcept>

namespace sdpa {

std::string npy_header(const std::string& descr, const std::vector<int64_t>& shape) {
  std::string dims;
  for (std::size_t i = 0; i < shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) dims += ",";  // Python's one-element tuple
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  // The format pads magic (6) + version (2) + length (2) + dict + '\n' to a multiple of 64.
  const std::size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  std::string header("\x93NUMPY\x01\x00", 8);
  header += static_cast<char>(dict.size() & 0xff);
  header += static_cast<char>((dict.size() >> 8) & 0xff);
  return header + dict;
}

namespace {

template <typename T>
void write_array(const std::string& path, const std::vector<T>& data, const std::vector<int64_t>& shape,
                 const char* descr) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw std::runtime_error("cannot open " + path + " for writing");
  const std::string header = npy_header(descr, shape);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size() * sizeof(T)));
  if (!out) throw std::runtime_error("write failed: " + path);
}

}  // namespace

void write_npy(const std::string& path, const std::vector<float>& data, const std::vector<int64_t>& shape) {
  write_array(path, data, shape, "<f4");
}
void write_npy(const std::string& path, const std::vector<double>& data, const std::vector<int64_t>& shape) {
  write_array(path, data, shape, "<f8");
}

}  // namespace sdpa
