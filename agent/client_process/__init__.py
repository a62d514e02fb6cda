"""The client process of AI Factory Client Services (seeds/000, "Client Process API").

One process per client group on a node: it registers its address with the client service,
serves ``POST /run``, ``GET /status``, ``POST /observer`` and ``GET /metrics``, and on
``/run`` drives ``num_clients`` concurrent load clients against the target server, pushing
the run's figures to observers and reporting them to the service.

    python -m agent.client_process --benchmark-id 123 --num-clients 3 \
        --service-url http://client-service:8001/api/v1 --server-addr http://ai-server:8000/predict
"""
