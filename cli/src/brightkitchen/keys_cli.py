"""``brightkitchen keys``: make the token-signing key pair and name keys by their ``kid``.

The private key goes to the case-manager alone (``BK_JWT_PRIVATE_KEY_FILE``); the public key to
every service (``BK_JWT_PUBLIC_KEYS``). Rotation is in docs/security.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from bkcore.keys import (
    generate_private_key,
    key_id,
    load_private_key,
    load_public_keys,
    private_key_pem,
    public_key_pem,
)

app = typer.Typer(help="Token-signing keys (Ed25519): make a pair, show a key's id.", no_args_is_help=True)


@app.command("new")
def new(
    out: Path = typer.Option(..., help="Directory for jwt-private.pem (0600) and jwt-public.pem."),
) -> None:
    """Make a new key pair. Refuses to overwrite: an old private key is rotated out, not lost."""
    out.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out / "jwt-private.pem", out / "jwt-public.pem"
    for path in (private_path, public_path):
        if path.exists():
            typer.secho(f"{path} exists: choose another directory", fg="red", err=True)
            raise typer.Exit(2)
    key = generate_private_key()
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(private_key_pem(key))
    public_path.write_text(public_key_pem(key.public_key()))
    typer.echo(f"kid {key_id(key.public_key())}\n  private {private_path}\n  public  {public_path}")


@app.command("id")
def show_id(pem_file: Path = typer.Argument(..., help="A PEM file: a private key or public key(s).")) -> None:
    """Print the ``kid`` of each key in a PEM file (what tokens name in their header)."""
    text = pem_file.read_text()
    try:
        keys = (
            [load_private_key(text, str(pem_file)).public_key()]
            if "PRIVATE KEY" in text
            else (load_public_keys(text, str(pem_file)))
        )
    except ValueError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    for key in keys:
        typer.echo(key_id(key))
