"""Live readings: Server-Sent Events fed by the pipeline, fanned out through Redis or in-process."""
