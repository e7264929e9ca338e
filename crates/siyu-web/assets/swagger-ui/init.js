// Starts Swagger UI on siyu's generated OpenAPI document.
window.ui = SwaggerUIBundle({ url: "/api/v1/openapi.json", dom_id: "#swagger", deepLinking: true });
