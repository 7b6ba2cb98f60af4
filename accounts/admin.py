"""Operator login goes through the failed-login throttle (moderation screens: issue #5)."""

from django.contrib import admin

from accounts.forms import ThrottledAdminAuthenticationForm

admin.site.login_form = ThrottledAdminAuthenticationForm
