#!/usr/bin/env bash
# Fails when a module of the core (crates/vae/src) names one of a higher layer. The layers, bottom-up:
# the files at the crate's root (the base), then its folders in the order lib.rs declares them.
# Every `crate::…` path in code counts (tests too, comments not); a name lib.rs re-exports
# (`crate::VaeWeights`) counts as the module it comes from. `-v` lists every reference.
set -euo pipefail
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/crates/vae/src"
verbose=${1:-}

layers=(base)
for m in $(sed -nE 's/^pub(\(crate\))? mod ([a-z_]+);.*/\2/p' "$SRC/lib.rs"); do
  [ -d "$SRC/$m" ] && layers+=("$m")
done
rank() { # rank MODULE: its layer's place in `layers`; 0 (the base) for the root's own modules and items
  local i
  for i in "${!layers[@]}"; do [ "${layers[$i]}" = "$1" ] && { echo "$i"; return; }; done
  echo 0
}

# Code without comments, as one line (a `use` may span lines).
code() { sed -E 's://.*$::' "$1" | tr '\n' ' '; }

# lib.rs's re-exports: item → the module it comes from (`pub use model::weights::VaeWeights;`).
declare -A from
while read -r module items; do
  for item in $items; do from[$item]=$module; done
done < <(code "$SRC/lib.rs" | grep -oE 'pub use [a-z_]+::[^;]*;' | sed -E 's/^pub use ([a-z_]+)::(.*);$/\1 \2/; s/[{},]/ /g; s/ [a-z_]+::/ /g')

# The first segment of every path after `crate::` (each one of a `crate::{…}` group).
references() {
  code "$1" | grep -oE 'crate::(\{[^;]*\}|[A-Za-z_][A-Za-z0-9_]*)' | sed -E 's/^crate:://' | while read -r path; do
    if [[ $path == \{* ]]; then
      path=${path:1:${#path}-2}
      while [[ $path =~ \{[^{}]*\} ]]; do path=${path//"${BASH_REMATCH[0]}"/}; done
      tr ',' '\n' <<<"$path" | sed -E 's/^ *//; s/::.*//; s/ .*//' | grep -v '^$' || true
    else
      echo "$path"
    fi
  done
}

total=0 upward=0
while read -r file; do
  rel=${file#"$SRC"/}
  layer=base
  [[ $rel == */* ]] && layer=${rel%%/*}
  for name in $(references "$file"); do
    target=${from[$name]:-$name}
    target_layer=${layers[$(rank "$target")]}
    total=$((total + 1))
    if [ "$(rank "$target")" -gt "$(rank "$layer")" ]; then
      upward=$((upward + 1))
      echo "upward: $rel ($layer) uses crate::$name ($target_layer)" >&2
    elif [ -n "$verbose" ]; then
      echo "$rel ($layer) uses crate::$name ($target_layer)"
    fi
  done
done < <(find "$SRC" -name '*.rs' | sort)

echo "layers, bottom-up: ${layers[*]}; $total references to crate::, $upward upward" >&2
[ "$upward" = 0 ]
