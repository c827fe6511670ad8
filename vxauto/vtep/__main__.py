"""`python -m vxauto.vtep run CONFIG`: the same commands as `vxauto vtep`, without the other sub-apps."""

from vxauto.cli.vtep import app

if __name__ == "__main__":
    app()
