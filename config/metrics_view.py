"""`/metrics` for Prometheus, refused to everyone else (it names every label and its volumes).

A scrape is let in with `Authorization: Bearer <METRICS_TOKEN>` (Prometheus' own `authorization`
setting sends it; deploy/README.md) or from an address in METRICS_ALLOWED_NETWORKS (the client address
as config.client_ip reads it). With neither configured, only DEBUG serves it. What it answers:
config.metrics.
"""

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache

from config.client_ip import client_ip
from config.metrics import exposition


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "")
        if sent.startswith("Bearer ") and hmac.compare_digest(sent[7:].strip().encode(), token.encode()):
            return True
    networks = settings.METRICS_ALLOWED_NETWORK_LIST
    if networks:
        try:
            address = ipaddress.ip_address(client_ip(request))
        except ValueError:
            return False
        if any(address.version == net.version and address in net for net in networks):
            return True
    return settings.DEBUG and not token and not networks


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        response = HttpResponse("Metrics need a bearer token or an allowed address.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = exposition()
    return HttpResponse(body, content_type=content_type)
