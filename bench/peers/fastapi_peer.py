"""FastAPI + httpx peer (uvicorn, one worker): one shared AsyncClient, three concurrent GETs, merged JSON."""
import asyncio, os, sys
import httpx, uvicorn
from fastapi import FastAPI

DOWN = f"http://127.0.0.1:{sys.argv[2]}"
app = FastAPI()
client = httpx.AsyncClient(limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))

async def merged(prefix):
    user, orders, recs = await asyncio.gather(*(client.get(DOWN + prefix + p) for p in ("user", "orders", "recs")))
    for r in (user, orders, recs):
        r.raise_for_status()
    return {"user": user.json(), "orders": orders.json()["orders"], "recommendations": recs.json()["items"]}

@app.get("/composite")
async def composite():
    return await merged("/")

@app.get("/composite-slow")
async def composite_slow():
    return await merged("/slow/")

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), workers=1, log_level="error", access_log=False)
