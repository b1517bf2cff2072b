# Shared by scripts/dev, scripts/test and the benchmarks: install what a fresh Debian machine lacks,
# and say so.

# Installs the named Debian packages that are missing (needs root, or sudo).
ensure_debian_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> installing missing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# CPU seconds (user + system, to the millisecond) used so far by the processes named: what
# the benchmarks divide by the requests they served. Needs `bc`.
cpu_seconds() {
  local ticks=0 pid
  for pid in "$@"; do ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
  echo "scale=3; $ticks / $(getconf CLK_TCK)" | bc
}

# RocksDB's bindings are generated with bindgen (libclang) and built with a C++ compiler.
ensure_build_deps() {
  ensure_debian_packages libclang-dev clang g++ make
  command -v cargo >/dev/null || { echo "cargo (the Rust toolchain) is required" >&2; exit 1; }
}
