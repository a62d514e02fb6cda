"""A script task: prints a few lines slowly so `aifarm logs -f` has something to follow."""

import platform
import time

for step in range(5):
    print(f"step {step} on {platform.node()}", flush=True)
    time.sleep(0.5)
with open("result.txt", "w") as out:  # files in the working directory are hashed into output_sha256
    out.write("done\n")
print("done")
