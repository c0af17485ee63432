#!/usr/bin/env bash
# The fluidsynth synth needs Debian's libfluidsynth3; the basic synth works without it.
set -u
if ldconfig -p 2>/dev/null | grep -q 'libfluidsynth\.so\.3'; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing libfluidsynth3 (for --synth fluidsynth)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libfluidsynth3) >/dev/null 2>&1 \
    || echo "warning: apt-get could not install libfluidsynth3; --synth basic still works"
else
  echo "note: libfluidsynth3 is missing; run 'sudo apt-get install libfluidsynth3' for --synth fluidsynth" \
       "(--synth basic works without it)"
fi
exit 0
