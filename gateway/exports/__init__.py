"""Long jobs: exports of readings to files, and the daily report, run by a task queue and its workers."""
