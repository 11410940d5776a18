"""The live terminal view of a running pipeline (`wattstream local run`, `wattstream watch`).

    snapshot.py  what the screen shows, as plain data (one `Snapshot` a refresh)
    collect.py   builds snapshots: the job's and the generator's /metrics, the alerts topic
    render.py    `render(snapshot, width)`: a pure function from a snapshot to the screen
    live.py      refreshes the screen in place until Ctrl-C; `wattstream watch`
"""
