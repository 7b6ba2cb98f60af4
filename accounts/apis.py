"""Account endpoints: register, login, logout, me, sessions, password."""

from typing import Any

from django.contrib.auth import logout as page_logout
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.models import ApiSession, User
from marketplace.api import validated
from marketplace.request_origin import client_ip


class UserSerializer(serializers.ModelSerializer[User]):
    display_name = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "display_name", "is_staff", "date_joined"]

    def get_display_name(self, user: User) -> str | None:
        profile = getattr(user, "seller_profile", None)
        return profile.display_name if profile else None


class RegisterSerializer(serializers.Serializer[Any]):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class LoginSerializer(serializers.Serializer[Any]):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class SessionTokenSerializer(serializers.Serializer[Any]):
    session_token = serializers.CharField(help_text="Shown once; send as 'Bearer <token>'.")
    session_id = serializers.IntegerField()
    expires_at = serializers.DateTimeField()


class MeUpdateSerializer(serializers.Serializer[Any]):
    display_name = serializers.CharField(min_length=1, max_length=80)


class ApiSessionSerializer(serializers.ModelSerializer[ApiSession]):
    current = serializers.SerializerMethodField()

    class Meta:
        model = ApiSession
        fields = ["id", "created_at", "expires_at", "last_used_at", "ip", "user_agent", "current"]

    def get_current(self, session: ApiSession) -> bool:
        current = self.context["request"].auth
        return isinstance(current, ApiSession) and current.pk == session.pk


class PasswordChangeSerializer(serializers.Serializer[Any]):
    current_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)



class RegisterApi(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(request=RegisterSerializer, responses={201: UserSerializer})
    def post(self, request: Request) -> Response:
        data = validated(RegisterSerializer, request)
        user = services.user_register(email=data["email"], password=data["password"])
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginApi(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(request=LoginSerializer, responses={200: SessionTokenSerializer})
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
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, ApiSession):
            services.api_session_revoke(user=request.user, session_id=request.auth.pk)
        else:
            page_logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    @extend_schema(responses=UserSerializer)
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)

    @extend_schema(request=MeUpdateSerializer, responses=UserSerializer)
    def patch(self, request: Request) -> Response:
        data = validated(MeUpdateSerializer, request)
        services.seller_profile_ensure(user=request.user, display_name=data["display_name"])
        user = User.objects.select_related("seller_profile").get(pk=request.user.pk)
        return Response(UserSerializer(user).data)


class SessionListApi(APIView):
    @extend_schema(responses=ApiSessionSerializer(many=True))
    def get(self, request: Request) -> Response:
        sessions = services.api_sessions_live(user=request.user)
        return Response(ApiSessionSerializer(sessions, many=True, context={"request": request}).data)


class SessionRevokeApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, session_id: int) -> Response:
        services.api_session_revoke(user=request.user, session_id=session_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeApi(APIView):
    @extend_schema(request=PasswordChangeSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        data = validated(PasswordChangeSerializer, request)
        services.user_change_password(
            user=request.user,
            current_password=data["current_password"],
            new_password=data["new_password"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
