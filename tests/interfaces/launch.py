"""Run the ``reverie`` command in a subprocess with any missing storage parts stood in."""

from tests.interfaces import standins

standins.install()

from reverie.cli.app import main  # noqa: E402

if __name__ == "__main__":
    main()
