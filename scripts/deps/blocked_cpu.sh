# blocked_cpu: nothing beyond the core set-up. Its kernels need only the compiler (g++ with
# -mavx2 -mfma -mf16c / -mavx512f, checked by CMake) and OpenMP (libgomp, part of g++).
