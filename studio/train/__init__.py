"""The training worker: `python -m studio.train RUN_DIR`, in its own process."""
