"""Weekly tips into group chats: send times, tip choice, a pure planner, the push log and its
executor, alerts and group health, and the channels that deliver."""
