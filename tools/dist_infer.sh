#!/usr/bin/env bash
# Whole-scene inference with several processes (torchrun):
#   tools/dist_infer.sh CONFIG CHECKPOINT GPUS IMAGE [IMAGE ...] --out-dir DIR [infer_large_image.py options]
# Many images are shared out among the processes; fewer images than processes are cut into row
# bands whose strips are merged into one COG per image, identical to a single-process run.
# nccl on GPUs (one process per GPU), gloo on CPU-only machines. --resume works as for one process.
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT (DIR must be on a shared file system).
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/infer_large_image.py" \
    "$CONFIG" "$CHECKPOINT" "${@:4}" \
    --launcher pytorch
