#!/bin/sh
# patch-reef-mgr.sh ROOT : makes Reef 18.2.7's ceph-mgr (Debian trixie, Python 3.13) load its modules.
#
# Reef's mgr runs every module in its own Python sub-interpreter, and mgr_util.py does a top-level
# `import bcrypt`. bcrypt is a PyO3 (Rust) extension, which can be initialised in one interpreter
# only, so every module but the first fails:
#   MGR_MODULE_DEPENDENCY: Module 'balancer' has failed dependency: PyO3 modules do not yet support subinterpreters
# The fix moves the import into password_hash(), the only user (dashboard/restful passwords).
# The `restful` module still fails (it imports a PyO3 module itself); keep it disabled
# (mgr_initial_modules, or `ceph mgr module disable restful`). Tentacle needs no patch.
# This patches the code under test, which a clean Reef on trixie needs (measured in the spike).
set -eu
f=${1:?usage: patch-reef-mgr.sh ROOT}/usr/share/ceph/mgr/mgr_util.py
if ! grep -q '^import bcrypt$' "$f"; then
  grep -q '^# import bcrypt (nflab' "$f" && { echo "already patched: $f"; exit 0; }
  echo "not Reef's mgr_util.py (no top-level 'import bcrypt'): $f" >&2
  exit 1
fi
sed -i -e 's/^import bcrypt$/# import bcrypt (nflab: imported in password_hash, PyO3 vs sub-interpreters)/' \
  -e 's/^\(    if not password:\)$/    import bcrypt\n\1/' "$f"
grep -q '^    import bcrypt$' "$f" || { echo "password_hash() not found where expected in $f" >&2; exit 1; }
echo "patched $f"
