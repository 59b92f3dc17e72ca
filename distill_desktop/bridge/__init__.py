"""The code that crosses threads: the training worker in its QThread (worker), the controller that
starts runs and answers its warnings (training_controller), and the follower of a run being written
(run_follower)."""
