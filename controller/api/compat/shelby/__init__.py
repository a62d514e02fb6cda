"""ShelbyCompute (seeds/003) on the core domain: jobs are script tasks, its agents are polling nodes."""
