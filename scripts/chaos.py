#!/usr/bin/env python3
"""Chaos for the ledger: two `aimos serve` replicas on one PostgreSQL database, an upstream
that injects faults, concurrent clients, and one replica killed with -9 at random moments and
restarted. Afterwards every request a client saw answered must have its run in the ledger,
every insight a client was given must be whole in the store, and the key's overspend must stay
within what the requests in flight could cost.

Run it through scripts/chaos.sh, which builds the binaries first. Settings (environment):
REQUESTS (3000), CLIENTS (8), RATE (requests a second, all clients together; 50), KILL_EVERY
(mean seconds between kills; 2.5), FAULTS (share of upstream calls that fail; 0.05), SEED,
AIMOS_TEST_PG (postgres://postgres@127.0.0.1:5432/test). Everything listens on loopback.
"""

import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AIMOS = os.path.join(ROOT, "target/release/aimos")
UPSTREAM_BIN = os.path.join(ROOT, "target/release/examples/fixed_upstream")

REQUESTS = int(os.environ.get("REQUESTS", "3000"))
CLIENTS = int(os.environ.get("CLIENTS", "8"))
RATE = float(os.environ.get("RATE", "50"))
KILL_EVERY = float(os.environ.get("KILL_EVERY", "2.5"))
FAULTS = float(os.environ.get("FAULTS", "0.05"))
SEED = int(os.environ.get("SEED", str(int(time.time()))))
PG = os.environ.get("AIMOS_TEST_PG", "postgres://postgres@127.0.0.1:5432/test")
DEADLINE = float(os.environ.get("DEADLINE", "600"))
UPSTREAM = ("127.0.0.1", 9190)
REPLICAS = [("127.0.0.1", 9191), ("127.0.0.1", 9192)]
# What one request can cost at most at the upstream's fixed usage and these prices: a
# consultation (consult, execute and a reuse check at most) in dollars.
PRICE_IN, PRICE_OUT = 1.0, 2.0
MOST_PER_REQUEST = 4 * (200 * PRICE_IN + 100 * PRICE_OUT) / 1e6


def psql(sql, schema=None):
    env = dict(os.environ, PGOPTIONS=f"-c search_path={schema}") if schema else None
    out = subprocess.run(["psql", PG, "-At", "-c", sql], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"psql failed: {out.stderr.strip()}")
    return out.stdout


def request(address, path, body, key, timeout=15):
    conn = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        conn.request("POST", path, body=json.dumps(body),
                     headers={"content-type": "application/json", "authorization": f"Bearer {key}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def ready(address, seconds=30):
    end = time.time() + seconds
    while time.time() < end:
        try:
            conn = http.client.HTTPConnection(*address, timeout=1)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


class Replica:
    def __init__(self, index, env, config, store, logs):
        self.index, self.env, self.config, self.store, self.logs = index, env, config, store, logs
        self.process = None
        self.starts = 0

    def start(self):
        host, port = REPLICAS[self.index]
        log = open(os.path.join(self.logs, f"replica{self.index}-{self.starts}.log"), "w")
        self.starts += 1
        self.process = subprocess.Popen(
            [AIMOS, "serve", "--bind", f"{host}:{port}", "--config", self.config, "--store", self.store],
            env=self.env, stdout=log, stderr=log)
        if not ready(REPLICAS[self.index]):
            sys.exit(f"replica {self.index} did not start; see {log.name}")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        if self.process.wait(timeout=60) != 0:
            sys.exit(f"replica {self.index} did not stop cleanly")


def main():
    random.seed(SEED)
    schema = f"aimos_chaos_{os.getpid()}"
    psql(f"CREATE SCHEMA {schema}")
    store = f"{PG}?options=-c%20search_path%3D{schema}"
    work = tempfile.mkdtemp(prefix="aimos-chaos-")
    env = dict(os.environ, AIMOS_HOME=work, AIMOS_LOG="warn")
    config = os.path.join(work, "aimos.toml")
    with open(config, "w") as f:
        f.write(f"""[models]
smart = "fixed:m"
cheap = "fixed:m"
[providers.fixed]
api = "openai"
base_url = "http://{UPSTREAM[0]}:{UPSTREAM[1]}/v1"
[prices."fixed:m"]
input = {PRICE_IN}
output = {PRICE_OUT}
""")
    upstream = subprocess.Popen([UPSTREAM_BIN, f"{UPSTREAM[0]}:{UPSTREAM[1]}", str(FAULTS)])
    replicas = []
    try:
        # Enough budget for about nine in ten requests: the key runs out before the end.
        budget = round(REQUESTS * 0.9 * ((14 * PRICE_IN + 8 * PRICE_OUT) / 1e6 * 0.9 + MOST_PER_REQUEST / 4 * 0.1), 6)
        key = subprocess.run([AIMOS, "keys", "create", "--name", "chaos", "--budget-usd", str(budget),
                              "--store", store, "--config", config],
                             env=env, capture_output=True, text=True, check=True).stdout.strip()
        replicas = [Replica(i, env, config, store, work) for i in range(2)]
        for replica in replicas:
            replica.start()

        lock = threading.Lock()
        counter = iter(range(REQUESTS))
        answered, insights, statuses = {}, {}, {}
        done = threading.Event()
        started = time.time()

        def client(number):
            rng = random.Random(SEED * 100 + number)
            while not done.is_set():
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                wait = started + i / RATE - time.time()
                if wait > 0:
                    time.sleep(wait)
                req = uuid.uuid4().hex
                address = REPLICAS[rng.randrange(2)]
                consult = rng.random() < 0.1
                try:
                    if consult:
                        status, body = request(address, "/v1/aimos/consult", {
                            "problem": f"Why does the loop over range(1, n) miss the last item? ({req})",
                            "metadata": {"req": req}}, key)
                    else:
                        status, body = request(address, "/v1/chat/completions", {
                            "model": "fixed:m", "max_tokens": 16, "metadata": {"req": req},
                            "messages": [{"role": "user", "content": "What is the capital of France?"}]}, key)
                except (OSError, http.client.HTTPException):
                    status, body = "connection", b""
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                    if status == 200:
                        answered[req] = consult
                        if consult:
                            insights[req] = json.loads(body)["insight_id"]

        kills = 0

        def killer():
            nonlocal kills
            rng = random.Random(SEED)
            while not done.wait(rng.uniform(0.3, 2 * KILL_EVERY - 0.3)):
                replica = replicas[kills % 2]
                replica.kill()
                kills += 1
                time.sleep(rng.uniform(0.05, 0.5))
                replica.start()

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        chaos = threading.Thread(target=killer)
        for t in threads:
            t.start()
        chaos.start()
        for t in threads:
            t.join(timeout=max(1, DEADLINE - (time.time() - started)))
        done.set()
        chaos.join()
        elapsed = time.time() - started
        # A clean stop, then one more start of each: a replica killed last replays its spool.
        for replica in replicas:
            replica.stop()
        for replica in replicas:
            replica.start()
            replica.stop()

        recorded = {}
        for line in psql("SELECT tags FROM runs", schema).splitlines():
            tags = json.loads(line) if line else {}
            if "req" in tags:
                recorded[tags["req"]] = recorded.get(tags["req"], 0) + 1
        lost = [r for r in answered if r not in recorded]
        duplicated = sum(1 for n in recorded.values() if n > 1)
        extra = sum(1 for r in recorded if r not in answered)
        whole, torn = 0, []
        for req, insight in insights.items():
            row = psql(f"SELECT diagnosis, plan, key_facts, pitfalls FROM insights WHERE id = '{insight}'", schema).strip()
            try:
                diagnosis, plan, key_facts, pitfalls = row.split("|")
                assert diagnosis and json.loads(plan) and isinstance(json.loads(key_facts), list)
                json.loads(pitfalls)
                whole += 1
            except (ValueError, AssertionError):
                torn.append(insight)
        spent, limit = (float(x) for x in psql("SELECT spent_usd, budget_usd FROM keys WHERE name = 'chaos'", schema).strip().split("|"))
        overspend = max(0.0, spent - limit)
        bound = CLIENTS * MOST_PER_REQUEST
        replayed = 0
        for name in sorted(os.listdir(work)):
            if name.endswith(".log"):
                with open(os.path.join(work, name)) as log:
                    for line in log:
                        if "held" in line and "written now" in line:
                            replayed += int(line.split(": ")[1].split(" written")[0])

        print(f"seed {SEED}; {CLIENTS} clients at {RATE:g} requests/s to 2 replicas on PostgreSQL; "
              f"upstream faults {FAULTS:.0%}; {elapsed:.0f} s")
        print(f"requests        {REQUESTS}")
        print(f"kills (-9)      {kills}")
        print(f"answered        {len(answered)}  (consultations: {sum(answered.values())})")
        print(f"not answered    {REQUESTS - len(answered)}  {dict(sorted((str(k), v) for k, v in statuses.items() if k != 200))}")
        print(f"recorded        {sum(1 for r in answered if r in recorded)} of the answered "
              f"(+{extra} recorded that no client saw answered; {duplicated} recorded twice)")
        print(f"replayed        {replayed} runs from the spools of killed replicas")
        print(f"lost            {len(lost)}")
        print(f"insights        {whole} whole of {len(insights)} given to clients; torn or missing: {len(torn)}")
        print(f"key budget      ${limit:.6f}; spent ${spent:.6f}; overspend ${overspend:.6f} "
              f"(bound: {CLIENTS} requests in flight, ${bound:.6f})")
        ok = not lost and not torn and duplicated == 0 and overspend <= bound and kills > 0
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        for replica in replicas:
            if replica.process and replica.process.poll() is None:
                replica.process.kill()
        upstream.kill()
        psql(f"DROP SCHEMA {schema} CASCADE")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
