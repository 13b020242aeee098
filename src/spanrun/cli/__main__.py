"""``python -m spanrun.cli``."""

from spanrun.cli import main

if __name__ == "__main__":
    main(prog_name="spanrun")
