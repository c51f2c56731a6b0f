// A small history-API router: the page is the path, its state (filters) the query string, so
// every view is a shareable URL and the back button works.
import { signal } from '@preact/signals';
import type { ComponentChildren, JSX } from 'preact';

export const route = signal({ path: location.pathname, search: location.search });

export function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  route.value = { path: location.pathname, search: location.search };
}

addEventListener('popstate', () => {
  route.value = { path: location.pathname, search: location.search };
});

export function Link(props: { href: string; children: ComponentChildren } & JSX.HTMLAttributes<HTMLAnchorElement>) {
  const { href, children, ...rest } = props;
  return (
    <a
      {...rest}
      href={href}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(href);
      }}
    >
      {children}
    </a>
  );
}
