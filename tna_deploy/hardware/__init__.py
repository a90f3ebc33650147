"""Target profiles, op counting from measured spikes, feasibility and energy estimates."""
