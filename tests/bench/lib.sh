# Shared by the benchmarks in tests/bench (sourced before tests/system/lib.sh, which
# gives them the guest). A bench starts with
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   bench_options NAME OPTION=DEFAULT... -- "$@"
# which parses --OPTION N (or --OPTION=N; positive whole numbers), -h/--help (the
# script's header comment) and one KVMRUN argument, and sets $OPTION for each,
# $bin (KVMRUN, else $KVMRUN, else build/kvmrun, as an absolute path) and
# $orig_args (the arguments as given, for need_kvm).
set -euo pipefail
export LC_ALL=C
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

bench_options() {
  local name=$1 o v opts=() seen_bin=
  shift
  while (($#)) && [[ $1 != -- ]]; do
    opts+=("${1%%=*}"); printf -v "${1%%=*}" '%s' "${1#*=}"; shift
  done
  shift
  orig_args=("$@") bin=
  while (($#)); do
    case $1 in
      -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
      --*)
        o=${1#--} o=${o%%=*}
        if [[ $1 == *=* ]]; then v=${1#*=}; shift; else v=${2-}; shift $(($# > 1 ? 2 : 1)); fi
        [[ " ${opts[*]} " == *" $o "* ]] || { echo "$name: unknown option --$o (see --help)" >&2; exit 2; }
        [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "$name: --$o wants a positive whole number, not '$v'" >&2; exit 2; }
        printf -v "$o" '%s' "$v" ;;
      -*) echo "$name: unknown option $1 (see --help)" >&2; exit 2 ;;
      *) [[ -z $seen_bin ]] || { echo "$name: more than one KVMRUN given" >&2; exit 2; }
         seen_bin=1 bin=$1; shift ;;
    esac
  done
  bin=${bin:-${KVMRUN:-$top/build/kvmrun}}
  [[ $bin == /* ]] || bin=$PWD/$bin
  [[ -x $bin ]] || { echo "$name: $bin is not an executable (ninja -C build?)" >&2; exit 2; }
}

# bench_need NAME PROGRAM:PACKAGE...: stop with one line naming what is missing.
bench_need() {
  local name=$1 p missing=()
  shift
  for p in "$@"; do command -v "${p%%:*}" > /dev/null || missing+=("${p%%:*} (Debian package: ${p#*:})"); done
  ((${#missing[@]} == 0)) || { printf '%s: missing %s\n' "$name" "${missing[@]}" >&2; exit 1; }
}

# bench_initrd NAME MODULES BINARY KEY: sets $initrd to a cached initramfs for the guest
# kernel in $kdir with MODULES, BINARY and the /init read from stdin, and builds it unless
# it is there: its file name holds NAME and a hash of KEY (what the init depends on) and of
# the kernel's version.
bench_initrd() {
  local name=$1 modules=$2 binary=$3 key=$4 init
  initrd=${KVMRUN_CACHE:-${HOME:-/var/tmp}/.cache/kvmrun}/bench/$name-initrd-$(
    { echo "$key"; cat "$kdir/version"; } | md5sum | cut -c1-12).gz
  [[ ! -f $initrd ]] || return 0
  mkdir -p "$(dirname "$initrd")"
  init=$(mktemp)
  cat > "$init"
  "$top/scripts/mkinitramfs" --kernel-dir "$kdir" --modules "$modules" --init "$init" \
    --binary "$binary" -o "$initrd"
  rm -f "$init"
}

# Numbers: median and mean of the arguments; ratio A B (A/B, two decimals, n/a
# unless both are above zero); fmt VALUE DECIMALS.
median() {
  printf '%s\n' "$@" | sort -g |
    awk '{ a[NR] = $1 } END { if (!NR) print "n/a"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
mean() { printf '%s\n' "$@" | awk '{ s += $1 } END { if (NR) print s / NR; else print "n/a" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
fmt() { awk -v v="$1" -v d="$2" 'BEGIN { if (v ~ /^-?[0-9.e+-]+$/) printf "%.*f", d, v; else print v }'; }
# goal_met RATIO MAX: "yes" when RATIO <= MAX, "no" above it, n/a without a ratio.
goal_met() { awk -v r="$1" -v m="$2" 'BEGIN { if (r == "n/a" || r == "") print "n/a"; else print (r + 0 <= m + 0) ? "yes" : "**no**" }'; }

# The CPU time (ns, user and kernel) so far of the VMM PID's own threads, all but
# the vCPUs' (kvmrun's "vcpuN", QEMU's "CPU N/KVM" with -name debug-threads=on):
# what the guest costs is left out. Threads gone are not counted.
vmm_cpu_ns() {
  local t c s=0
  for t in "/proc/$1/task/"*; do
    { read -r c < "$t/comm"; } 2>/dev/null || continue # the thread (or VMM) is gone
    [[ $c == vcpu* || $c == "CPU "*"/KVM" ]] && continue
    { read -r c _ < "$t/schedstat"; } 2>/dev/null && s=$((s + c))
  done
  echo "$s"
}

# Whether process PID still runs (not gone, not a zombie): a CPU time read just
# before counted every thread it had.
running() { local st; st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) && [[ $st != [ZX] ]]; }
