# cuDNN backend dependencies, sourced by scripts/setup-deps.
#
# The CUDA Toolkit and cuDNN itself are not installed here: they come with the machine's CUDA
# install (/usr/local/cuda) or with PyTorch's wheels (point CUDNN_ROOT at
# <site-packages>/nvidia/cudnn). A machine without them builds without the backend.
#
# Installed here: the header-only cuDNN C++ frontend, pinned, from its PyPI wheel, which puts
# the headers in <site-packages>/include (backends/cudnn/CMakeLists.txt looks there).
# --no-deps: the wheel's dependencies (CUTLASS DSL, TVM FFI) serve its Python API only, are
# large, and the C++ headers need none of them.
# The pin and cuDNN 9.19 (what PyTorch's CUDA 13 wheels carry): the frontend's support matrix
# says every 1.x release works with cuDNN backends from 8.5.0 on, gating what needs a newer
# backend on the version loaded at run time (the unified SDPA node, for one, needs 9.13.1; the
# backend then falls back to the composite node). 1.19.0 is the release NVIDIA recommends for
# 9.19.1 and later; 1.32.0 is kept because it is the one this backend is built and tested
# against, and it is >= 1.12, the minimum for CUDA 13.
sdpa_pip_install --no-deps nvidia-cudnn-frontend==1.32.0
