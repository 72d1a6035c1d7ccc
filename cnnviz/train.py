"""``python -m cnnviz.train``: the command line of cnnviz.training (cnnviz/training/cli.py)."""
from cnnviz.training.cli import main

if __name__ == "__main__":
    main()
