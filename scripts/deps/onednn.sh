# oneDNN backend dependencies, sourced by scripts/setup-deps.
#
# oneDNN >= 3.7 (Graph API SDPA with the implicit causal mask) comes from Intel's PyPI wheels
# `onednn` / `onednn-devel`, pinned. What those wheels are, measured (see backends/onednn/README.md):
# - Every onednn wheel >= 2024.0 is built with DNNL_CPU_RUNTIME=SYCL and TBB threading (checked
#   2025.0.0, 2026.0.2, 2026.1.0): there is no OpenMP build of oneDNN >= 3.7 on PyPI (the
#   `onednn-cpu-gomp` wheels stop at 2023.2 = oneDNN 3.2).
# - A SYCL CPU engine needs the SYCL runtime, Unified Runtime's OpenCL adapter and Intel's OpenCL
#   CPU driver; all are wheels. intel-cmplr-lib-ur 2026.2.0 dropped libur_adapter_opencl.so, and
#   onednn 2026.1.0 (oneDNN 3.13) requires that runtime, so its CPU engine finds no device. The
#   newest consistent set is onednn 2026.0.2 (oneDNN 3.11.4) with the 2026.1.2 runtime.
# - tbb-devel gives the headers of tbb::global_control, which is how --threads reaches oneDNN.
# Every package is pinned (the runtime wheels pin one another exactly; umf, tcmlib and tbb are
# pinned here too), so the prefix is the same on every machine. It is large (~1.8 GiB): the
# OpenCL CPU driver and the SYCL runtime are most of it.

SDPA_ONEDNN_WHEEL_VERSION=2026.0.2      # = oneDNN 3.11.4
SDPA_ONEDNN_LIBRARY_VERSION=3.11.4
SDPA_ONEAPI_RUNTIME_VERSION=2026.1.2    # newest whose intel-cmplr-lib-ur ships the OpenCL adapter
SDPA_ONEDNN_PACKAGES=(
  "onednn==$SDPA_ONEDNN_WHEEL_VERSION"
  "onednn-devel==$SDPA_ONEDNN_WHEEL_VERSION"
  "dpcpp-cpp-rt==$SDPA_ONEAPI_RUNTIME_VERSION"
  "intel-opencl-rt==$SDPA_ONEAPI_RUNTIME_VERSION"
  "intel-sycl-rt==$SDPA_ONEAPI_RUNTIME_VERSION"
  "intel-cmplr-lib-rt==$SDPA_ONEAPI_RUNTIME_VERSION"
  "intel-cmplr-lib-ur==$SDPA_ONEAPI_RUNTIME_VERSION"
  "intel-cmplr-lic-rt==$SDPA_ONEAPI_RUNTIME_VERSION"
  "intel-openmp==$SDPA_ONEAPI_RUNTIME_VERSION"
  "tbb==2023.2.0"
  "tbb-devel==2023.2.0"
  "umf==1.1.0"
  "tcmlib==1.6.0"
)

sdpa_onednn_installed() {
  local prefix="$SDPA_DEPS_PREFIX" header="$SDPA_DEPS_PREFIX/include/oneapi/dnnl/dnnl_version.h"
  [ -f "$header" ] || return 1
  local version
  version="$(sed -n 's/^#define DNNL_VERSION_MAJOR \([0-9]*\).*/\1/p' "$header").$(
    sed -n 's/^#define DNNL_VERSION_MINOR \([0-9]*\).*/\1/p' "$header").$(
    sed -n 's/^#define DNNL_VERSION_PATCH \([0-9]*\).*/\1/p' "$header")"
  [ "$version" = "$SDPA_ONEDNN_LIBRARY_VERSION" ] || return 1
  # The pieces a SYCL CPU engine loads at run time, and the TBB headers.
  local f
  for f in lib/libdnnl.so lib/libsycl.so lib/libur_adapter_opencl.so lib/libintelocl.so \
           lib/libtbb.so include/oneapi/tbb/global_control.h; do
    [ -e "$prefix/$f" ] || return 1
  done
}

if sdpa_onednn_installed; then
  echo "onednn: oneDNN $SDPA_ONEDNN_LIBRARY_VERSION (wheel $SDPA_ONEDNN_WHEEL_VERSION) already in $SDPA_DEPS_PREFIX"
else
  sdpa_pip_install "${SDPA_ONEDNN_PACKAGES[@]}"
  if ! sdpa_onednn_installed; then
    echo "onednn: installed the wheels but $SDPA_DEPS_PREFIX lacks oneDNN $SDPA_ONEDNN_LIBRARY_VERSION or its SYCL CPU runtime" >&2
    return 1
  fi
fi

# The OpenCL driver's ICD file names its library under the conda build prefix; conda rewrites it
# at install time, pip does not. The backend points the ICD loader at the library itself
# (OCL_ICD_FILENAMES), so this only helps other tools that read OCL_ICD_VENDORS.
sdpa_onednn_icd="$SDPA_DEPS_PREFIX/etc/OpenCL/vendors/intel-cpu.icd"
if [ -f "$sdpa_onednn_icd" ] && grep -q anaconda1anaconda2anaconda3 "$sdpa_onednn_icd"; then
  echo "$SDPA_DEPS_PREFIX/lib/libintelocl.so" > "$sdpa_onednn_icd"
fi
unset sdpa_onednn_icd
