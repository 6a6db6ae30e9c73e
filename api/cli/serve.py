"""Running the web service."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.app import DataOpt, app, say, settings


@app.command()
def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address (YIZHAN_HOST).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (YIZHAN_PORT).")] = None,
    data: DataOpt = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Tip store URL (YIZHAN_DB), e.g. sqlite:///yizhan.db."),
    ] = None,
) -> None:
    """Run the web service: the station finder at /, the API under /api, OpenAPI at /docs."""
    import uvicorn

    from api.app import create_app
    from api.stores import open_store

    updates = {"host": host, "port": port, "data": data, "db": db}
    chosen = settings().model_copy(update={k: v for k, v in updates.items() if v is not None})
    # fail fast, with one line, before the server starts
    city = chosen.load_city()
    open_store(chosen.db).close()
    say(f"Yizhan on http://{chosen.host}:{chosen.port}/  (API docs at /docs)")
    uvicorn.run(create_app(chosen, city=city), host=chosen.host, port=chosen.port, log_level="info")
