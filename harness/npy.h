// NumPy .npy files (format 1.0), so any outside tool can read what a backend saw and produced.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sdpa {

// Writes a C-ordered float32 or float64 array; throws std::runtime_error on I/O failure.
void write_npy(const std::string& path, const std::vector<float>& data, const std::vector<int64_t>& shape);
void write_npy(const std::string& path, const std::vector<double>& data, const std::vector<int64_t>& shape);

// The header of a .npy file as written above (used by tests and tools that read back).
std::string npy_header(const std::string& descr, const std::vector<int64_t>& shape);

}  // namespace sdpa
