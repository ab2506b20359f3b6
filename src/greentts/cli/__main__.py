"""``python -m greentts.cli``."""

from greentts.cli import main

main()
