"""Weight quantizers (``quantizers``), the compression schedule (``schedule``) and the weight modes
(``modes``, torch-free: the config and the CLI read it at startup). Import the submodules directly."""
