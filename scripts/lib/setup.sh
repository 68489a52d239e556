# Shared set-up for the README's commands: installs what the project needs on a fresh Debian
# machine (operating-system packages when missing, NuGet restore) and builds the solution.
# Sourced by scripts/optimizer and scripts/test; prints progress to stderr so stdout stays clean.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CONFIG="${OPTIMIZER_CONFIG:-Release}"

say() { printf '%s\n' "$*" >&2; }

# Debian packages the project uses: libz3 (the Z3 solver, called in process) and the z3 binary
# (an independent re-check of exported SMT-LIB certificates), and libonnx-testdata (ONNX's own test models,
# which the ONNX front end's tests load; tests/Optimizer.Tests/OnnxTests.cs).
APT_PACKAGES=(libz3-4 z3 libonnx-testdata)

ensure_os_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing operating-system packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
  fi
  if ! command -v dotnet >/dev/null 2>&1; then
    say "error: the .NET SDK (dotnet) is not on PATH; install .NET 10 SDK first."
    exit 2
  fi
}

build_solution() {
  say "restoring NuGet packages and building ($CONFIG)..."
  if ! dotnet build "$ROOT/Optimizer.sln" -c "$CONFIG" -nologo -v quiet -clp:ErrorsOnly >"$ROOT/out/build.log" 2>&1; then
    cat "$ROOT/out/build.log" >&2
    say "error: the build failed (log above, also in out/build.log)."
    exit 2
  fi
  touch "$(build_stamp)"
}

# The file whose time is the last successful build of this configuration.
build_stamp() { printf '%s' "$ROOT/out/.built-$CONFIG"; }

# Builds only when a source, project or build file is newer than the last successful build (or the
# command's assembly is missing), so a call on an up-to-date tree starts at once instead of spending
# seconds in `dotnet build`. OPTIMIZER_REBUILD=1 forces the build.
build_if_changed() {
  local stamp dll
  stamp="$(build_stamp)"
  dll="$ROOT/cli/bin/$CONFIG/net10.0/optimizer.dll"
  if [ "${OPTIMIZER_REBUILD:-0}" != 1 ] && [ -f "$stamp" ] && [ -f "$dll" ] && [ -z "$(find "$ROOT" \
      \( -name bin -o -name obj -o -name .git -o -path "$ROOT/out" -o -path "$ROOT/tests" \) -prune -o \
      -type f \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.targets' -o -name '*.sln' \) \
      -newer "$stamp" -print -quit)" ]; then
    return 0
  fi
  build_solution
}

mkdir -p "$ROOT/out"
