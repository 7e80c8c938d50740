"""Chat memory: L2 topic queues, topic memories, group consensus."""
