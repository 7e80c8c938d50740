#!/usr/bin/env sh
# Run supervisord with deploy/supervisord.conf, filling in its defaults.
#   deploy/supervisord.sh                       # foreground
#   AIW_WORKER_PROCESSES=4 deploy/supervisord.sh
# Then: supervisorctl -c deploy/supervisord.conf status | start legacy:* | stop all
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${AIW_RUN_DIR:=/tmp/ai-worker}"
: "${AIW_WORKER_PROCESSES:=2}"
: "${AIW_METRICS_PORT_PREFIX:=91}"
export AIW_RUN_DIR AIW_WORKER_PROCESSES AIW_METRICS_PORT_PREFIX
mkdir -p "$AIW_RUN_DIR"
# the project's virtualenv, if there is one, provides arq and supervisord
if [ -x "$here/../.venv/bin/arq" ]; then PATH="$here/../.venv/bin:$PATH"; export PATH; fi
exec supervisord -c "$here/supervisord.conf" "$@"
