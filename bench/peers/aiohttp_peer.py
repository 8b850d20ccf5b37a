"""aiohttp peer: one shared ClientSession, three concurrent GETs, merged JSON."""
import asyncio, json, sys
from aiohttp import web, ClientSession, TCPConnector

DOWN = f"http://127.0.0.1:{sys.argv[2]}"

async def fetch(session, path):
    async with session.get(DOWN + path) as resp:
        resp.raise_for_status()
        return await resp.json()

async def composite(request):
    prefix = "/slow/" if request.path.startswith("/composite-slow") else "/"
    user, orders, recs = await asyncio.gather(*(fetch(request.app["session"], prefix + p) for p in ("user", "orders", "recs")))
    return web.Response(text=json.dumps({"user": user, "orders": orders["orders"], "recommendations": recs["items"]}),
                        content_type="application/json")

async def start(app):
    app["session"] = ClientSession(connector=TCPConnector(limit=64))

async def stop(app):
    await app["session"].close()

app = web.Application()
app.on_startup.append(start)
app.on_cleanup.append(stop)
app.router.add_get("/composite", composite)
app.router.add_get("/composite-slow", composite)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
