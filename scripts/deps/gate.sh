# The paired speed gate's tools (scripts/gate-ab), sourced by scripts/setup-deps:
# ccache (the base commit's build reuses the current one's objects), valgrind (callgrind counts
# the instruction tier; its headers, <valgrind/callgrind.h>, let the worker turn counting on
# only around a backend's timed call).
sdpa_apt_install ccache valgrind
