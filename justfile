# creel's tasks. `just --list` shows them.

# Run every test (unit, integration with a private redis-server, architecture checks, the
# security suite, short proptests of the fuzz properties), the queue, limiter and job-kind
# suites again on a private three-primary Redis Cluster (`just test-cluster`), then
# schemathesis against the API and the deployment linters (hadolint, yamllint,
# kubernetes-validate, KEDA's CRD schema).
# Ends with one summed line: "tests: N passed, N failed".
test:
    #!/usr/bin/env bash
    set -euo pipefail
    mkdir -p target
    status=0
    cargo test --workspace --locked 2>&1 | tee target/test-output.log || status=$?
    just test-cluster 2>&1 | tee -a target/test-output.log || status=$?
    st=0
    bash scripts/schemathesis.sh 50 2>&1 | tee target/schemathesis-output.log || st=$?
    dl=0
    bash scripts/deploy-lint.sh 2>&1 | tee target/deploy-lint-output.log || dl=$?
    awk -v st="$st" -v dl="$dl" '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i == "passed;") p += $(i-1); if ($i == "failed;") f += $(i-1) } }
         END { if (st == 0) p += 1; else f += 1; if (dl == 0) p += 1; else f += 1; printf "tests: %d passed, %d failed\n", p, f }' target/test-output.log
    if [ "$st" != 0 ]; then exit "$st"; fi
    if [ "$dl" != 0 ]; then exit "$dl"; fi
    exit $status

# The queue, limiter and job-kind (classroom) integration suites on a private three-primary
# Redis Cluster (redis-server --cluster-enabled yes and redis-cli --cluster create).
test-cluster:
    TEST_REDIS=cluster cargo test --locked -p creel-tests --test integration -- queue_ limiter:: classroom::

# schemathesis (PyPI, in a venv under target/) against /openapi.json of a running `creel api`:
# positive and negative data, the stateful phase; 0 server errors and 0 schema breaks to pass.
test-security examples="200":
    bash scripts/schemathesis.sh {{examples}}

# cargo-fuzz on the untrusted-input properties (tests/src/properties.rs), each target for
# `seconds` from the committed seeds in fuzz/corpus/ (not part of the tests).
fuzz seconds="60":
    bash fuzz/run.sh {{seconds}}

# The deployment files: hadolint, yamllint, kubernetes-validate and KEDA's CRD schema.
deploy-lint:
    bash scripts/deploy-lint.sh

# Lints as CI would want them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --locked -- -D warnings

# All benchmarks (not part of the tests).
bench: bench-queue bench-cluster bench-download bench-transfer bench-limiter bench-jobs

# creel-queue vs BullMQ 6 on one local Redis: 50,000 no-op jobs, enqueue then drain, at each
# concurrency of the list (the first is the headline ratio); creel also with every job traced to
# a local OTLP collector at the first (telemetry_overhead_ratio).
bench-queue jobs="50000" concurrencies="50,10,100":
    bash bench/queue/run.sh {{jobs}} {{concurrencies}}

# Where creel-queue's time goes (README, Performance): Redis µs per job by script, round trips
# per job and client CPU per job, from one run against a Redis that logs every command.
bench-queue-breakdown jobs="50000" concurrency="50":
    bash bench/queue/breakdown.sh {{jobs}} {{concurrency}}

# The scaling test with a live view: a KEDA/HPA controller loop against real `creel worker`
# processes under a burst of 300 downloads; writes target/scale-sim/timeline.csv and .png
# (the chart's text needs fonts-dejavu-core).
scale-sim:
    SCALE_SIM_OUT="$PWD/target/scale-sim" cargo test --locked -p creel --test scaling -- --nocapture

# creel end to end on embedded defaults: private redis-server, sample server, API, worker, downloads.
demo:
    cargo run --quiet --locked -p creel -- demo

# Peak RSS and throughput of one creel worker downloading a generated 2 GiB source to a dir.
bench-download mib="2048":
    bash bench/download/run.sh {{mib}}

# creel vs rclone copyurl into a local S3 server: CPU, wall time and peak RSS for 1 and 4 GiB,
# medians of 3 rounds each (the two take turns).
bench-transfer mib="1024,4096":
    bash bench/transfer/run.sh {{mib}}

# Redis CPU per job on one Redis and on a three-primary Redis Cluster (three queues, one per
# primary), each primary's share, and the throughput of both.
bench-cluster jobs="30000" concurrency="50":
    cargo build --release --locked -p creel-tests --bin cluster-bench
    target/release/cluster-bench {{jobs}} {{concurrency}}

# The cluster-wide limiter: 200 calls / 10 s shared by 4 processes x 16 callers for 40 s against the simulator.
bench-limiter seconds="40":
    cargo build --release --locked -p creel-tests --bin limiter-probe --bin limiter-bench
    target/release/limiter-bench {{seconds}}

# 500 mixed classroom jobs against the simulator (600x clock) with callbacks: status calls per
# job and callback-to-event latency.
bench-jobs:
    cargo build --release --locked -p creel-tests --bin jobs-bench
    target/release/jobs-bench
