#!/usr/bin/env python3
"""tcp_cut.py LISTEN_PORT TARGET_PORT - a TCP relay on 127.0.0.1 for tests.

Killing it (any signal) cuts every connection through it at once, as a
network failure between a collector and its backend would.  It exits by
itself after 600 s.
"""
import asyncio
import sys


async def pipe(r, w):
    try:
        while True:
            data = await r.read(65536)
            if not data:
                break
            w.write(data)
            await w.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        w.close()


async def main():
    lport, tport = int(sys.argv[1]), int(sys.argv[2])

    async def handle(cr, cw):
        try:
            br, bw = await asyncio.open_connection("127.0.0.1", tport)
        except OSError:
            cw.close()
            return
        await asyncio.gather(pipe(cr, bw), pipe(br, cw))

    srv = await asyncio.start_server(handle, "127.0.0.1", lport, reuse_address=True)
    print("listening", flush=True)
    async with srv:
        await asyncio.sleep(600)


asyncio.run(main())
