import sys

from studio.train.worker import main

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m studio.train RUN_DIR")
    sys.exit(main(sys.argv[1]))
