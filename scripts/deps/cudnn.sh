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
sdpa_pip_install --no-deps nvidia-cudnn-frontend==1.32.0
