"""What the job shows of itself while and after it runs: progress, log lines, metrics.

Each module is a sink of values made elsewhere; none reaches back into the job.
``metrics`` imports the Prometheus client, so import it only when metrics are asked for.
"""
