from django.urls import include, path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.PortalLoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("", include("portal.billing.urls")),
    path("", include("portal.services.urls")),
    path("", include("portal.orders.urls")),
    path("", include("portal.account.urls")),
    path("", include("portal.support.urls")),
    path("", include("portal.notifications.urls")),
]
