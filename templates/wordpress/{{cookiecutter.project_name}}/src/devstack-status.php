{%- set page_summary = "Status page: PHP runs and reaches the database. WordPress itself answers at /." %}
{%- set page_title = "WordPress development stack" %}
{%- set services = ["db"] %}
{%- set workers = [] %}
{%- set db_env = {"host": "WORDPRESS_DB_HOST", "port": "DB_PORT", "name": "WORDPRESS_DB_NAME", "user": "WORDPRESS_DB_USER", "password": "WORDPRESS_DB_PASSWORD"} %}
{%- set next_steps %}
  <h2>WordPress</h2>
  <p>WordPress answers at <a href="/">/</a>: on the first visit it asks for the site's title and
  an administrator account. This page (<code>src/devstack-status.php</code>) only shows the
  stack; delete it when you do not need it.</p>
{%- endset %}
{{- shared("php/status-page.php") }}
