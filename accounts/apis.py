"""Account endpoints: register, login, logout, me, sessions, password."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import address_check, password_reset, selectors, services
from accounts.current_user import request_user
from accounts.middleware import browser_logout, linked_session_id
from accounts.models import ApiSession, User
from core.api import InputSerializer, error_responses, validated
from core.pagination import PageNumberPagination, paginated_response
from core.request_origin import client_ip


class UserSerializer(serializers.ModelSerializer[User]):
    display_name = serializers.SerializerMethodField()
    email_verified = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "email_verified", "display_name", "is_staff", "date_joined"]

    def get_email_verified(self, user: User) -> bool:
        """Whether the owner followed the address check mailed at sign-up."""
        return user.email_verified_at is not None

    def get_display_name(self, user: User) -> str | None:
        profile = getattr(user, "seller_profile", None)
        return profile.display_name if profile else None


class RegisterSerializer(InputSerializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class RegistrationAcceptedSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField(help_text="The same text whether or not the address was free.")


class LoginSerializer(InputSerializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class SessionTokenSerializer(serializers.Serializer[Any]):
    session_token = serializers.CharField(help_text="Shown once; send as 'Bearer <token>'.")
    session_id = serializers.IntegerField()
    expires_at = serializers.DateTimeField()


class MeUpdateSerializer(InputSerializer):
    display_name = serializers.CharField(min_length=1, max_length=80)


class ApiSessionSerializer(serializers.ModelSerializer[ApiSession]):
    current = serializers.SerializerMethodField()

    class Meta:
        model = ApiSession
        fields = [
            "id",
            "kind",
            "created_at",
            "expires_at",
            "last_used_at",
            "ip",
            "user_agent",
            "current",
        ]

    def get_current(self, session: ApiSession) -> bool:
        """The Bearer session of this request, or the browser session of its cookie."""
        request = self.context["request"]
        if isinstance(request.auth, ApiSession):
            return request.auth.pk == session.pk
        return linked_session_id(request._request) == session.pk


class PasswordChangeSerializer(InputSerializer):
    current_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class RegisterApi(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        request=RegisterSerializer,
        responses={202: RegistrationAcceptedSerializer, **error_responses(400, 415)},
        description="Creates an account if the address has none. The answer is the same "
        "either way, so that it does not tell who has an account: log in to continue.",
    )
    def post(self, request: Request) -> Response:
        data = validated(RegisterSerializer, request)
        services.user_register(email=data["email"], password=data["password"])
        body = RegistrationAcceptedSerializer({"detail": services.REGISTRATION_ACCEPTED}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class LoginApi(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        request=LoginSerializer,
        responses={
            200: SessionTokenSerializer,
            **error_responses(400, 401, 415, 503),
        },
    )
    def post(self, request: Request) -> Response:
        data = validated(LoginSerializer, request)
        issued = services.api_login(
            email=data["email"],
            password=data["password"],
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
        body = {
            "session_token": issued.token,
            "session_id": issued.session.pk,
            "expires_at": issued.session.expires_at,
        }
        return Response(SessionTokenSerializer(body).data)


class LogoutApi(APIView):
    @extend_schema(request=None, responses={204: None, **error_responses(401, 403)})
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, ApiSession):
            services.api_session_revoke(user=request_user(request), session_id=request.auth.pk)
        else:
            browser_logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    @extend_schema(responses={200: UserSerializer, **error_responses(401)})
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request_user(request)).data)

    @extend_schema(
        request=MeUpdateSerializer,
        responses={200: UserSerializer, **error_responses(400, 401, 403, 415)},
    )
    def patch(self, request: Request) -> Response:
        data = validated(MeUpdateSerializer, request)
        user = request_user(request)
        user.seller_profile = services.seller_profile_ensure(
            user=user, display_name=data["display_name"]
        )
        return Response(UserSerializer(user).data)


class SessionListApi(APIView):
    pagination_class = PageNumberPagination  # documents the page and its parameters

    @extend_schema(
        responses={200: ApiSessionSerializer(many=True), **error_responses(400, 401, 404)}
    )
    def get(self, request: Request) -> Response:
        sessions = selectors.api_sessions_live(user=request_user(request))
        return paginated_response(
            request, self, sessions, ApiSessionSerializer, context={"request": request}
        )


class SessionRevokeApi(APIView):
    @extend_schema(responses={204: None, **error_responses(401, 403, 404)})
    def delete(self, request: Request, session_id: int) -> Response:
        services.api_session_revoke(user=request_user(request), session_id=session_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeApi(APIView):
    @extend_schema(
        request=PasswordChangeSerializer,
        responses={204: None, **error_responses(400, 401, 403, 415)},
    )
    def post(self, request: Request) -> Response:
        data = validated(PasswordChangeSerializer, request)
        services.user_change_password(
            user=request_user(request),
            current_password=data["current_password"],
            new_password=data["new_password"],
            ip=client_ip(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetRequestSerializer(InputSerializer):
    email = serializers.CharField(max_length=254)


class NoticeSerializer(serializers.Serializer[Any]):
    """A 202's answer: what happens next (a mail, if any, is sent after the request)."""

    detail = serializers.CharField(help_text="What happens next (the same for any address).")


class PasswordResetConfirmSerializer(InputSerializer):
    token = serializers.CharField(max_length=200)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class PasswordResetRequestApi(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        request=PasswordResetRequestSerializer,
        responses={202: NoticeSerializer, **error_responses(400, 415)},
        description="Mails a one-time link to set a new password to the account at this "
        "address, if there is one; the answer is the same either way. The link's last path "
        "segment is the `token` for `auth/password-reset/confirm`.",
    )
    def post(self, request: Request) -> Response:
        data = validated(PasswordResetRequestSerializer, request)
        password_reset.password_reset_request(email=data["email"])
        body = NoticeSerializer({"detail": password_reset.RESET_REQUESTED}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmApi(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        request=PasswordResetConfirmSerializer,
        responses={204: None, **error_responses(400, 415)},
        description="Sets the new password and ends every session of the account. A token "
        "works once, within PASSWORD_RESET_TIMEOUT.",
    )
    def post(self, request: Request) -> Response:
        data = validated(PasswordResetConfirmSerializer, request)
        password_reset.password_reset_confirm(
            token=data["token"], new_password=data["new_password"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class AddressCheckSerializer(InputSerializer):
    token = serializers.CharField(max_length=500)


class AddressCheckSendApi(APIView):
    @extend_schema(
        request=None,
        responses={202: NoticeSerializer, **error_responses(401, 403)},
        description="Mails the address-check link again (nothing once the address is "
        "confirmed). Its last path segment is the `token` for `auth/verify-email/confirm`.",
    )
    def post(self, request: Request) -> Response:
        address_check.address_check_send(request_user(request))
        body = NoticeSerializer({"detail": address_check.CHECK_SENT}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class AddressCheckConfirmApi(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        request=AddressCheckSerializer,
        responses={204: None, **error_responses(400, 415)},
        description="Confirms the address the token was mailed to.",
    )
    def post(self, request: Request) -> Response:
        data = validated(AddressCheckSerializer, request)
        address_check.address_verify(token=data["token"])
        return Response(status=status.HTTP_204_NO_CONTENT)
